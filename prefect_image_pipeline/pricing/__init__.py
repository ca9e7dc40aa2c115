"""What a run costs in US dollars: the price table (table.py) and the estimate (estimate.py).

The default table (``pricing/prices.json``) ships with the package and names its source and
date per model; a user file (IMAGE_PIPELINE_PRICES_FILE) replaces it per model and per
token kind. A price the table lacks is never guessed: the estimate is then unknown and
names it. (The one stated assumption, in the file itself: an image model's text output,
which OpenAI does not price apart, at its image-output rate.)
"""

from prefect_image_pipeline.pricing.estimate import CostEstimate, estimate_cost, total
from prefect_image_pipeline.pricing.table import (
    KINDS,
    PRICES_VARIABLE,
    PriceTable,
    load_price_table,
)

__all__ = [
    "KINDS",
    "PRICES_VARIABLE",
    "CostEstimate",
    "PriceTable",
    "estimate_cost",
    "load_price_table",
    "total",
]
