"""The cleaning report: every row that cleaning drops or changes, counted and shown."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["CleaningReport", "RuleResult"]


@dataclass
class RuleResult:
    """One cleaning rule's effect."""

    rule: str
    action: str  # dropped | netted | capped | flagged | filled | moved | merged | summed | info
    rows: int
    reason: str
    units: float = 0.0
    examples: list[str] = field(default_factory=list)


@dataclass
class CleaningReport:
    """What cleaning did, rule by rule, plus per-series notes (short, dead, new series)."""

    rows_in: int = 0
    rows_out: int = 0
    rules: list[RuleResult] = field(default_factory=list)
    series_notes: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["unique_id", "issue", "detail"])
    )
    facts: dict[str, object] = field(default_factory=dict)

    def add(
        self,
        rule: str,
        action: str,
        rows: int,
        reason: str,
        *,
        units: float = 0.0,
        examples: pd.DataFrame | list[str] | None = None,
        limit: int = 3,
    ) -> None:
        """Record a rule; rules that touched nothing are kept with 0 rows so the report is complete."""
        if isinstance(examples, pd.DataFrame):
            shown = [
                "; ".join(f"{k}={v}" for k, v in row.items())
                for row in examples.head(limit).astype(str).to_dict("records")
            ]
        else:
            shown = list(examples or [])[:limit]
        self.rules.append(RuleResult(rule, action, int(rows), reason, float(units), shown))

    def to_frame(self) -> pd.DataFrame:
        """One row per rule: rule, action, rows, units, reason, examples."""
        return pd.DataFrame(
            [
                {
                    "rule": r.rule,
                    "action": r.action,
                    "rows": r.rows,
                    "units": r.units,
                    "reason": r.reason,
                    "examples": " | ".join(r.examples),
                }
                for r in self.rules
            ],
            columns=["rule", "action", "rows", "units", "reason", "examples"],
        )

    def summary_lines(self) -> list[str]:
        """Short human lines for the CLI: only rules that touched rows."""
        return [
            f"{r.rule}: {r.action} {r.rows:,} row(s) — {r.reason}" for r in self.rules if r.rows
        ]
