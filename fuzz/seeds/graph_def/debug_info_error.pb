

xPlaceholder2
n1
n2f1"ª