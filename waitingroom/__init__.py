"""The waiting room: a bank-ticket queue in front of a sale (DESIGN section 2)."""
