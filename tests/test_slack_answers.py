"""DMs and thread follow-ups are answered on the answer pool, like commands and mentions.

With a slow LLM (the double sleeps 4 s per call) and only 4 ack threads, 6 DMs and 2 replies
in a thread the bot talks in are in flight; 20 slash commands sent meanwhile over real HTTP
are each acknowledged within Slack's 3 s, and every DM asker gets the answer in the end.
Before, a DM's answer ran on Bolt's listener (ack) threads: 4 slow DMs held all of them.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from bot.agent import eval_world
from bot.router import Asker
from tests.slow_llm_bot import event, slow_llm_bot
from tools import conversations as conv_store
from tools.store import Store


def test_slow_dm_and_thread_answers_never_delay_acks(tmp_path):  # type: ignore[no-untyped-def]
    db = tmp_path / "world.db"
    seed = Store.open(f"sqlite:///{db}")
    eval_world.seed(seed)
    thread = Asker(user="U7", surface="slack", channel="C1", thread_ts="500.1")
    conv_store.append_turn(seed, thread.conversation_key, conv_store.Turn(question="deploys?", answer="12 this week"),
                           tokens=0, max_history_tokens=2000)
    seed.close()
    with slow_llm_bot(tmp_path, db, TRIOPS_ACK_WORKERS="4", TRIOPS_ANSWER_WORKERS="8", TRIOPS_ANSWER_QUEUE="40") as bot:
        def dm(i: int) -> float:
            return bot.post(event({"type": "message", "channel_type": "im", "user": f"U{i}", "channel": f"D{i}",
                                   "ts": f"200{i}.1", "text": f"why is checkout slow today, take {i}?"}),
                            "application/json")

        def follow_up(i: int) -> float:
            return bot.post(event({"type": "message", "channel_type": "channel", "user": "U7", "channel": "C1",
                                   "ts": f"600{i}.1", "thread_ts": "500.1", "text": f"and why is it slow, {i}?"}),
                            "application/json")

        with ThreadPoolExecutor(max_workers=28) as pool:
            slow = [pool.submit(dm, i) for i in range(6)] + [pool.submit(follow_up, i) for i in range(2)]
            bot.wait_llm_calls(8, timeout=15)  # all eight answers are waiting on the LLM now
            acks = list(pool.map(bot.command, range(20)))
            assert all(s.result() < 3.0 for s in slow), [s.result() for s in slow]
        assert max(acks) < 3.0, f"slash-command acks took up to {max(acks):.1f} s: {sorted(acks)}"
        deadline = time.monotonic() + 40
        while True:  # each DM's status message is replaced by the answer (the model's claim
            # "looks fine" rests on no tool output, so the planner answers and says why)
            answered = {c.params.get("channel") for c in bot.slack.of("chat.update")
                        if "computed by" in json.dumps(c.params)}
            if all(f"D{i}" in answered for i in range(6)):
                break
            assert time.monotonic() < deadline, f"no answer in {sorted({f'D{i}' for i in range(6)} - answered)}"
            time.sleep(0.1)
