"""facedge.bench.wider: WIDER FACE val evaluation (`facedge eval`): the ground truth
(`gt`), the submission-format predictions (`predictions`), the vectorised AP
(`ap`), running a model over the val images (`run`) and the PR plot (`plot`)."""
