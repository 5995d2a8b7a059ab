"""``python -m helpdesk_cli`` runs the ``helpdesk`` command (handy where the entry point is not installed)."""

from helpdesk_cli.main import main

main()
