

xPlaceholder*
dtype0
	
cNoOp
-
enterEnterx*
T0*

frame_namef
1
mergeMergeenternext^c*
N*
T0
%
nextNextIterationmerge*
T0"ª