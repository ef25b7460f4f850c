"""Blob storage backends and the objects built on them."""
