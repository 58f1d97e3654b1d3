"""The product catalog (统一产品目录): TMF620 specifications, offerings, prices, categories, catalogs."""
