"""What people do: the break workflow, building, storing and sending the weekly report."""
