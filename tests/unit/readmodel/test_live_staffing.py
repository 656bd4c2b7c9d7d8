from floorwatch.domain.queue_metrics import Counts
from floorwatch.readmodel.queries import live_required_agents

RULES = {"sl_threshold_s": 20, "sl_target": 0.8}


def test_required_agents_from_rolling_rate_and_aht():
    # 150 offered in 15 min = 300 per 30 min; AHT (2,000 + 200 + 200 s) / 10 = 240 s -> 40 Erlangs;
    # Erlang C with T = 20 s and 80 %: 45 agents give 77.5 %, 46 give 83.9 % (as `floorwatch erlang`)
    last_hour = Counts(handled=10, talk_ms=2_000_000, hold_ms=200_000, wrap_ms=200_000)
    assert live_required_agents(Counts(offered=150), last_hour, RULES) == 46


def test_unknown_without_a_handled_contact_and_zero_without_arrivals():
    assert live_required_agents(Counts(offered=50), Counts(), RULES) is None
    assert live_required_agents(Counts(offered=0), Counts(handled=1, talk_ms=60_000), RULES) == 0
