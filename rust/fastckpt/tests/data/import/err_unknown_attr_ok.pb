

xNoOp*	
zzz"ª