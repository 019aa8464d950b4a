"""Section: where every number comes from, the model's notes, and the sensitivity tables (as files)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec

from analytics import costs
from analytics.cost_report.common import columns
from analytics.datasets import Datasets
from analytics.htmlkit import Figure, Section, Table, charts
from analytics.pricing.likeforlike import route_results
from analytics.pricing.provenance import InputRef
from analytics.pricing.sweeps import SWEEP_CHANNEL_KEYS

SWEEP_COLOURS = dict(zip(SWEEP_CHANNEL_KEYS, charts.PALETTE))


def input_rows(refs: dict[InputRef, None]) -> list[dict[str, Any]]:
    return [
        {
            "file": ref.file, "item": ref.item, "value": ref.value, "status_label": ref.label,
            "confidence": ref.confidence, "status": ref.status, "source": ref.source, "date": ref.date,
        }
        for ref in sorted(refs, key=lambda ref: (ref.confidence != "low", ref.file, ref.item))
    ]


def sources_section(data: Datasets, corridors: Sequence[str], amounts: Sequence[Decimal]) -> Section:
    results = [r for c in corridors for a in amounts for r in route_results(data, c, a, "typical")]
    results += [costs.cost(data, c, "rpw_average", a) for c in corridors for a in amounts if c in costs.available_corridors(data)]
    refs: dict[InputRef, None] = {}
    notes: dict[str, dict[str, None]] = {}
    for r in results:
        refs.update(dict.fromkeys(r.inputs))
        refs.update(dict.fromkeys(r.subsidy_inputs))
        for note in r.notes:
            notes.setdefault(note, {})[f"{r.corridor} {r.channel.key}"] = None
    section = Section(
        "Sources, notes and sensitivity",
        [
            f"{costs.ATTRIBUTION} Every table names its files; the inputs table lists each value used, lowest "
            "confidence first. The per-service RPW quotes (rpw_services.csv) were transcribed from "
            "remittance-watch's API v1 export at the commits recorded per row; they reproduce every 2025 Q3 "
            "aggregate of corridors.csv (a test checks it).",
            "Ticket size: flat fees dominate small tickets, so % cost falls with the amount wherever a fee is flat "
            "(exchange withdrawal fees, Saudi banks' flat SAR fee). RPW prices USD 200 and 500 only: between them "
            "fees are interpolated linearly, outside them a rising fee keeps its slope and a falling one is held.",
        ],
        id="sources",
    )
    section.tables.append(
        Table("inputs", "Every input used, lowest confidence first",
              columns(*((k, k.replace("_", " ").capitalize()) for k in ("file", "item", "value", "status_label", "confidence", "status", "source", "date"))),
              input_rows(refs), "analytics/data/*.csv (see LICENSE-DATA.md)", inline=False)
    )
    section.tables.append(
        Table("model_notes", "Assumptions and data gaps behind the figures", columns(("note", "Note"), ("count", "Results"), ("applies_to", "Applies to (first 6)")),
              [{"note": n, "count": len(w), "applies_to": list(w)[:6]} for n, w in sorted(notes.items(), key=lambda kv: -len(kv[1]))],
              "analytics/pricing (each note is attached to the results it concerns)", inline=False)
    )
    sweep = [p for c in corridors for p in costs.ticket_sweep(data, c)]
    section.tables.append(
        Table("ticket_sweep", "Total cost vs ticket size",
              columns(("corridor", "Corridor"), ("channel_key", "Channel"), ("x", "Amount (USD)"), ("total_usd", "Total (USD)"), ("total_pct", "Total (%)")),
              [{"corridor": p.corridor, "channel_key": p.channel_key, "x": p.x, "total_usd": p.total_usd, "total_pct": p.total_pct} for p in sweep],
              "costs.ticket_sweep over corridors.csv, onramps.csv, ramps.csv, chains.csv", inline=False)
    )
    chain_lines = [ln for c in corridors for ln in costs.chain_fee_range(data, c, amounts[0])]
    section.tables.append(
        Table("chain_fees", f"Chain fee ranges and each corridor's route on the chain (USD {amounts[0]})",
              columns(*((k, k.replace("_", " ")) for k in ("corridor", "chain", "asset", "network_fee_usd_low", "network_fee_usd_typical",
                                                          "network_fee_usd_high", "network_fee_pct_typical", "finality_seconds", "withdrawal_venue",
                                                          "withdrawal_fee_usd_low", "withdrawal_fee_usd_high", "route_pct_low", "route_pct_high", "status", "date"))),
              [msgspec.structs.asdict(ln) for ln in chain_lines],
              "chains.csv; chains_added.csv; ramps.csv (withdrawal fees: third-party copies of Binance's schedule)", inline=False)
    )
    focus = next((c for c in corridors if costs.route_channels(data, c)), corridors[0])
    series = [
        charts.Series(key.removeprefix("stablecoin:").removesuffix(":bank"), [(float(p.x), float(p.total_pct)) for p in sweep if p.corridor == focus and p.channel_key == key],
                      SWEEP_COLOURS.get(key, charts.PALETTE[8]), dashed=key.startswith("stablecoin"))
        for key in dict.fromkeys(p.channel_key for p in sweep if p.corridor == focus)
    ]
    section.figures.append(
        Figure(
            f"{focus}: total cost vs ticket size",
            charts.line_chart(f"{focus}: total cost (% of amount) vs ticket size (USD, log scale)", series, "ticket size (USD)",
                              "% of amount", height=300, log_x=True, x_ticks=[50, 100, 200, 500, 1000, 2000],
                              reference_lines=[(3.0, "3%"), (5.0, "5%")], y_unit="%"),
            "RPW baskets USD 200/500, interpolated; onramps.csv; ramps.csv; chains.csv",
            costs.status_flags(ref.status for ref in refs if ref.file != "corridors.csv"),
        )
    )
    return section
