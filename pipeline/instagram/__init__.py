"""Instagram's private API as this project sees it: record shapes, a simulated Instagram, a crawler."""
