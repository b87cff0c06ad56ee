"""Decisions from forecasts: replenishment plans and a policy simulator.

- :func:`replenishment_plan`: per product, the demand over the protection interval
  (lead time + review period) and the (R, S) policy's safety stock, reorder point,
  order-up-to level, order quantity, stock-out risk and days of cover.
- :func:`simulate_policies`: replays (R, S) policies period by period over real
  history, driven by each model's forecasts and by a moving average with a normal
  safety stock, and scores fill rate, cycle service level, stock-outs, inventory and cost.
- :func:`hierarchy_forecast`: forecasts of the total, every attribute level and the
  products, reconciled to add up (MinTrace, WLS, bottom-up, top-down), non-negative.
- :func:`find_alerts`: stock-out risk, overstock, dead and slow movers, trend breaks and
  recent demand anomalies, each with its reason and numbers.
- :func:`whatif`: base and scenario forecasts under a price change or promotion, the
  uplift and its bootstrap interval.
"""

from trendcast.decisions.alerts import ALERT_KINDS, AlertSettings, find_alerts
from trendcast.decisions.plan import (
    FAST_CANDIDATES,
    PLAN_COLUMNS,
    DemandDistribution,
    ErrorModel,
    ReplenishmentPlan,
    error_model,
    order_quantities,
    plan_output,
    read_stock,
    replenishment_plan,
    trailing_levels,
)
from trendcast.decisions.reconcile import (
    RECONCILE_METHODS,
    HierarchyForecast,
    build_hierarchy,
    hierarchy_forecast,
    reconcile_forecasts,
)
from trendcast.decisions.simulate import (
    MOVING_AVERAGE,
    PolicyLedger,
    SimulationResult,
    moving_average_levels,
    simulate_policies,
    simulate_policy,
)
from trendcast.decisions.whatif import WhatIfResult, read_scenario, scenario_changes, whatif

__all__ = [
    "FAST_CANDIDATES",
    "PLAN_COLUMNS",
    "DemandDistribution",
    "ErrorModel",
    "ReplenishmentPlan",
    "error_model",
    "order_quantities",
    "plan_output",
    "read_stock",
    "replenishment_plan",
    "trailing_levels",
    "MOVING_AVERAGE",
    "PolicyLedger",
    "SimulationResult",
    "moving_average_levels",
    "simulate_policies",
    "simulate_policy",
    "RECONCILE_METHODS",
    "HierarchyForecast",
    "build_hierarchy",
    "hierarchy_forecast",
    "reconcile_forecasts",
    "ALERT_KINDS",
    "AlertSettings",
    "find_alerts",
    "WhatIfResult",
    "read_scenario",
    "scenario_changes",
    "whatif",
]
