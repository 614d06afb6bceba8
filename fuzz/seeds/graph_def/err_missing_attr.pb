

xPlaceholder"ª