"""The pricing model: what a remittance into Pakistan costs over each channel, from cited data.

One job per module:

* ``provenance``: every value with its file, row, status, source and date; rounding;
* ``core``: the cost identity, the channel and breakdown shapes, the pricer base;
* ``rpw``: formal channels from RPW corridor averages (any amount), the RAAST leg, the PRI rebate rule;
* ``services``: RPW's per-service quotes in pools (all, digital) and tiers (cheapest, median, shares);
* ``routes``: stablecoin routes per corridor, only behind a documented licensed on-ramp;
* ``channels``: which channels a corridor has, and the one entry point that prices any of them;
* ``likeforlike``: best vs best and typical vs typical, with the counts behind each figure;
* ``flows``: FY2025 flows by source and what senders paid on them;
* ``pri``: the PRI rebate reconciled with the reported spend;
* ``scorecard``: every corridor against the SDG 10.c / G20 targets;
* ``premium``: the P2P premium as a named scenario;
* ``sweeps``: cost against ticket size and chain fee ranges.

``analytics.costs`` is the model's public face (what the reports and the run report import).
"""
