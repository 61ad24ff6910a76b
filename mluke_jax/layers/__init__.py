"""Building blocks shared by the LUKE and XLM encoders."""
