"""Catalog and inventory: products, their stock, and the holds checkouts put on it."""
