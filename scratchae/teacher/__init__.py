"""Teacher tooling (placeholder of the hand-in branch; the grader's branch owns this file and its text wins)."""
