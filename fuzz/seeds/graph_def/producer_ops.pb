
E
Identity

input"T
output"T"	
Ttype"

newer_attrint