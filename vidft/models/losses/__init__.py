"""Loss functions shared by task plugins."""
