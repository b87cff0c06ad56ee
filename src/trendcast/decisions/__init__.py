"""Decisions from forecasts: replenishment plans and a policy simulator.

- :func:`replenishment_plan`: per product, the demand over the protection interval
  (lead time + review period) and the (R, S) policy's safety stock, reorder point,
  order-up-to level, order quantity, stock-out risk and days of cover.
- :func:`simulate_policies`: replays (R, S) policies period by period over real
  history, driven by each model's forecasts and by a moving average with a normal
  safety stock, and scores fill rate, cycle service level, stock-outs, inventory and cost.
"""

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
from trendcast.decisions.simulate import (
    MOVING_AVERAGE,
    PolicyLedger,
    SimulationResult,
    moving_average_levels,
    simulate_policies,
    simulate_policy,
)

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
]
