"""Every drill's figures in one table form (RELIABILITY.md keeps these tables)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

HEADER = (
    "| drill | commit | load | acknowledged | stored | delivered (live + catch-up / expected) "
    "| lost | duplicated | out of order | recovered in | ack p99 | delivery p99 | passed |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def row(result: dict[str, Any], commit: str) -> str:
    figures, load, conditions = result["figures"], result["load"], result["conditions"]
    spread = "/".join(str(v) for v in conditions.get("spread", {}).values())
    recovered = figures["recovered_s"]
    load_text = (
        f"{load['rate']:g} msgs/s, {conditions['sockets']} sockets ({spread}), "
        f"{load['duration_s']:g} s, load avg {conditions['loadavg_before'][0]:.1f}"
    )
    return (
        f"| {result['name']} | {commit} | {load_text} | {figures['acknowledged']:,} "
        f"(+{figures['unacknowledged']} not) | {figures['stored']:,} "
        f"| {figures['delivered_live']:,} + {figures['delivered_catch_up']:,} / "
        f"{figures['expected_deliveries']:,} "
        f"| {figures['lost']} | {figures['duplicated']} | {figures['out_of_order']} "
        f"| {'never' if recovered is None and result['timeline'] else '-' if recovered is None else f'{recovered:.1f} s'} "
        f"| {_ms(figures['ack_p99_ms'])} | {_ms(figures['delivery_p99_ms'])} "
        f"| {'yes' if figures['passed'] else '**no**'} |"
    )


def table(results: Sequence[dict[str, Any]], commit: str) -> str:
    return "\n".join([HEADER, *(row(r, commit) for r in results)])


def details(result: dict[str, Any]) -> str:
    figures = result["figures"]
    lines = [
        f"{result['name']}: {result['fault']}",
        f"  retried sends {figures['retried_sends']}, reconnects {figures['reconnects']}, "
        f"errors {figures['errors']}",
        f"  lost: {figures['lost_not_stored']} acknowledged but not stored, "
        f"{figures['lost_not_delivered']} deliveries never made; duplicated: "
        f"{figures['duplicated_stored']} stored twice, {figures['shown_twice']} shown twice; "
        f"seq gaps {figures['seq_gaps']}, conflicting acks {figures['conflicting_acks']}",
    ]
    lines += [f"  e.g. {example}" for example in figures["lost_examples"]]
    return "\n".join(lines)
