"""Offers: recommendations, deposits, group-buys, conversions and their attribution, the funnel.

Modules: ``recommend`` (pure scoring), ``service`` (offer rows and windows), ``groupbuy``,
``attribution`` (payments, refunds, event effects), ``listing``, ``render`` (what messages
show), ``funnel`` and ``tallies`` (anonymous counts of deleted learners).
"""
