

xFooBarOp"À