"""Solution to the exercise of notebooks/03_total_cost_and_optimization.ipynb: the total cost."""


def total_cost(J_content, J_style, alpha=10, beta=40):
    """J(G) = α J_content(C, G) + β J_style(S, G); scalar tensors (or numbers) -> scalar tensor (or number)."""
    return alpha * J_content + beta * J_style
