"""Spiking encoder -> NIR graph -> Lava processes."""
