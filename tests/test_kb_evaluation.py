from knowledge.evaluation import build_queries, fill_template, rank_metrics


def test_fill_template_placeholders():
    assert fill_template("Pod {{ $labels.namespace }}/{{ $labels.pod}} restarts") == (
        "Pod payments/checkout-api-7d9f8b6c5-x2kqp restarts")
    assert fill_template('at {{ printf "%.2f" $value }}% on {{$labels.instance}}') == "at 93.41% on 10.0.3.17:9100"
    assert fill_template("{{ $value | humanizePercentage }} failed") == "7.5% failed"
    assert fill_template('more than {{ "43200" | humanizeDuration }}') == "more than 12h 0m 0s"
    assert fill_template("PV {{ with $labels.cluster -}} on Cluster {{ . }} {{- end }}.") == "PV on Cluster prod-eu-1."
    assert fill_template(None) == ""


def test_queries_with_and_without_name():
    rule = {"alertname": "KubeJobFailed", "summary": "Job failed.", "description": "Job {{ $labels.job_name }} failed.",
            "runbook_path": "kubernetes/KubeJobFailed.md"}
    without, with_name = build_queries([rule])
    assert without.text == "Job failed. Job nightly-report-28911340 failed." and not without.with_name
    assert with_name.text.startswith("KubeJobFailed: ")
    assert without.truth == "prometheus-operator/kubernetes/KubeJobFailed.md"
    assert build_queries([{**rule, "runbook_path": None}])[0].truth is None


def test_rank_metrics_by_hand():
    m = rank_metrics([["a", "b"], ["x", "y", "b"], ["z"]], ["a", "b", "c"])
    assert (m.n, m.recall_at_1, m.recall_at_3) == (3, round(1 / 3, 4), round(2 / 3, 4))
    assert m.mrr == round((1 + 1 / 3 + 0) / 3, 4)
