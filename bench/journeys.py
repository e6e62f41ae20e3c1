"""Generate large, lint-clean journeys with the step mix of a real trial camp.

The benchmark needs a 500-step journey for lint, and a stand-in for the sample camp when
``examples/python-camp/journey.yaml`` is absent. Both come from :func:`generate_journey`, which
cycles through the kinds of step a camp has (daily reminders with conditions, group posts, win-back
tasks, milestone offsets, event triggers, selling steps, automated notices, learner-clock surveys,
advisor reports, A/B variants) so that every lint rule and every simulator path has work to do.
"""

from __future__ import annotations

HEADER = """\
journey: bench-camp
title: 基准测试营 · 一杯奶茶钱学会 Python
timezone: Asia/Shanghai
days: 7
quiet_hours: {start: "21:30", end: "08:00"}
caps: {automated_1v1_per_day: 1}
max_peak_to_end: 2h
milestones:
  opening:       {at: "D-1 20:00", kind: ritual}
  live-1:        {at: "D1 20:00", kind: live}
  learning-path: {at: "D5 20:00", kind: live}
  awards:        {at: "D7 20:00", kind: peak}
  graduation:    {at: "D7 20:40", kind: end}
courses:
  office-automation: {title: "Python 自动化办公", price: 1999, for_tags: ["goal:excel-automation"]}
  web-scraping:      {title: "Python 爬虫实战", price: 2299, for_tags: ["goal:data-collection"]}
offer: {opens: "D5 20:00", closes: "D8 23:59"}
steps:
"""

_KINDS = (
    # daily 1v1 reminder, only to those who have not submitted today
    """\
  - key: homework-reminder-{n}
    at: "D{day} 21:00"
    channel: advisor_task
    expires_after: 30m
    when:
      all:
        - {{state: active}}
        - {{not: {{event: homework_submitted, within: today}}}}
    template: "{{{{ learner.name }}}},今天的作业还差一点点,有卡住的地方随时问我。"
""",
    # morning group post
    """\
  - key: task-card-{n}
    at: "D{day} 08:30"
    channel: wecom
    audience: cohort
    expires_after: 3h
    template: "【第 {{{{ cohort.day }}}} 天任务卡】今天的小课已解锁:{{{{ links.homework }}}}"
""",
    # win-back task over several days
    """\
  - key: winback-{n}
    at: "D2..D5 12:00"
    channel: advisor_task
    voice: true
    deadline: 4h
    expires_after: 8h
    when:
      all:
        - {{state: active}}
        - {{not: {{event: checked_in, within: 36h}}}}
        - {{not: {{tag: "activity:silent"}}}}
    template: "{{{{ learner.name }}}},昨天没看到你打卡,今天的小课 15 分钟就能看完。"
""",
    # after the end milestone, calm
    """\
  - key: graduation-note-{n}
    at: {{after: graduation, offset: {offset}m}}
    channel: advisor_task
    expires_after: 2h
    when: {{state: [active, graduated, converted]}}
    template: "恭喜结营,{{{{ learner.name }}}}!这 7 天你一共拿了 {{{{ learner.points }}}} 分。"
""",
    # event trigger
    """\
  - key: homework-thanks-{n}
    on: homework_submitted
    delay: 10m
    channel: advisor_task
    expires_after: 12h
    template: "{{{{ learner.name }}}},作业收到啦,{{{{ advisor.name }}}} 今晚会给你点评。"
""",
    # selling, to high-intent learners only
    """\
  - key: offer-followup-{n}
    at: "{selling_at}"
    channel: advisor_task
    selling: true
    priority: 80
    expires_after: 30m
    when:
      any:
        - {{tag: "intent:A"}}
        - {{event: deposit_paid, within: camp}}
    template: "{{{{ offer.course.title }}}} 优惠到 {{{{ offer.closes }}}} 截止。"
""",
    # automated 1v1 notice (counts toward caps)
    """\
  - key: live-notice-{n}
    at: "D{day} 19:30"
    channel: webhook
    priority: 70
    expires_after: 30m
    when: {{not: {{tag: "activity:silent"}}}}
    template: "{{{{ learner.name }}}},今晚 20:00 有直播课,入口:{{{{ links.live }}}}"
""",
    # survey on the learner's own clock, held over the cap
    """\
  - key: survey-{n}
    at: "D9 11:00"
    channel: wecom
    tz: learner
    over_cap: hold
    priority: 30
    expires_after: 2d
    template: "{{{{ learner.name }}}},你有多大可能把这个体验营推荐给朋友?回复 0–10 就好。"
""",
    # advisor report, exempt from quiet hours
    """\
  - key: daily-report-{n}
    at: "D{day} 22:00"
    channel: log
    audience: advisor
    quiet_hours: exempt
    template: "【日报】{{{{ cohort.title }}}} 第 {{{{ cohort.day }}}} 天 {{{{ advisor.name }}}}"
""",
    # A/B variants and a points condition
    """\
  - key: encouragement-{n}
    at: "D{day} 10:00"
    channel: advisor_task
    when: {{points: {{gte: 10}}}}
    variants:
      - key: warm
        weight: 2
        template: "{{{{ learner.name }}}},你已经有 {{{{ learner.points }}}} 分啦,继续保持!"
      - key: brief
        template: "{{{{ learner.points }}}} 分,排第 {{{{ learner.rank }}}} 名,加油。"
""",
)
_SELLING_TIMES = ("D5 21:00", "D6 21:00", "D8 12:00")


def generate_journey(steps: int) -> str:
    """Return a journey document with ``steps`` steps cycling through the camp's step kinds."""
    parts = [HEADER]
    for n in range(steps):
        kind = _KINDS[n % len(_KINDS)]
        round_ = n // len(_KINDS)
        text = kind.format(
            n=n,
            day=1 + round_ % 7,
            offset=30 + 5 * (round_ % 3),
            selling_at=_SELLING_TIMES[round_ % len(_SELLING_TIMES)],
        )
        # Every template distinct, as in a real journey: no cache may turn 500 into 10.
        parts.append(text.replace('template: "', f'template: "[{n}] '))
    return "".join(parts)
