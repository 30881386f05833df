"""The refusal every break or work-item action raises before it writes anything (metrics/actions/break_workflow.py,
metrics/actions/work_item_actions.py)."""
from __future__ import annotations


class ActionRefused(ValueError):
    """An action that makes no sense for this break or work item (or lacks what it needs); nothing was written."""

    def __init__(self, break_id: int | None, action: str, why: str, kind: str = "break") -> None:
        self.break_id, self.action, self.why = break_id, action, why
        where = f"{kind} {break_id}" if break_id is not None else kind
        super().__init__(f"cannot {action.replace('_', ' ')} {where}: {why}")
