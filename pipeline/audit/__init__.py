"""The follower audit: the list-only model trained on what a follower list carries (:mod:`.list_model`),
the estimate of an account's authentic share with its interval (:mod:`.quantify`) and the audit itself,
paging followers and sampling full profiles (:mod:`.audit`, ``igfake audit``)."""
