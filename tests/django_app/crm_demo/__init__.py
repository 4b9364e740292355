"""A minimal Django application that uses crmcore in its own database and transaction."""
