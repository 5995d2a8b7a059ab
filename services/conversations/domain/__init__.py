"""Rules of the conversations service, as plain Python (no nameko, no SQLAlchemy).

* :mod:`.access` - who may see inbox threads, move threads, manage sender rules.
* :mod:`.routing` - where an inbound message goes: which thread, whether it is spam.
* :mod:`.replies` - who an agent's reply goes to, what its subject and ids are.
* :mod:`.printing` - the printable page of a thread.
"""
