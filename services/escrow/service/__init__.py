"""Use cases of the escrow service: load through the repository, decide with the domain,
post to the ledger, record the timeline, emit events, audit money movements. Never commit:
the request's (or the job's) unit of work does.

* ``escrows``      create, read, list, lot actions, cancel
* ``transitions``  persisting a domain transition: state, entries, sweeps, events, audit
* ``funding``      starting payments and handling provider callbacks
* ``payouts``      money out to sellers, buyers and lenders
* ``assignments``  assignment of proceeds to lenders
* ``ledger``       trial balance and verification
* ``sandbox``      the sandbox provider's confirmations
"""
