"""`shop`: the local stack (shoptools.stack) with its mesh (shoptools.mesh). The only place
that knows both; neither of them imports the other."""
