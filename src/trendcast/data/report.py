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

    @classmethod
    def combined(cls, reports: list[CleaningReport], limit: int = 3) -> CleaningReport:
        """One report for an input cleaned in parts (chunks of products): rows and units
        summed rule by rule, examples from the first parts, series notes of every part.

        The facts (frequency, columns...) are the first part's, with the series counted over all.

        Examples
        --------
        >>> a, b = CleaningReport(rows_in=5), CleaningReport(rows_in=3)
        >>> a.add("negative quantity", "dropped", 2, "returns", examples=["x"])
        >>> b.add("negative quantity", "dropped", 1, "returns", examples=["y"])
        >>> merged = CleaningReport.combined([a, b])
        >>> merged.rows_in, merged.rules[0].rows, merged.rules[0].examples
        (8, 3, ['x', 'y'])
        """
        out = cls(
            rows_in=sum(r.rows_in for r in reports), rows_out=sum(r.rows_out for r in reports)
        )
        merged: dict[tuple[str, str], RuleResult] = {}
        for report in reports:
            for rule in report.rules:
                key = (rule.rule, rule.action)
                if key not in merged:
                    merged[key] = RuleResult(rule.rule, rule.action, 0, rule.reason, 0.0, [])
                into = merged[key]
                into.rows += rule.rows
                into.units += rule.units
                into.examples = (into.examples + rule.examples)[:limit]
        out.rules = list(merged.values())
        notes = [r.series_notes for r in reports if len(r.series_notes)]
        if notes:
            out.series_notes = pd.concat(notes, ignore_index=True)
        if reports:
            out.facts = dict(reports[0].facts)
            if "series" in out.facts:
                out.facts["series"] = sum(int(str(r.facts.get("series", 0))) for r in reports)
        return out
