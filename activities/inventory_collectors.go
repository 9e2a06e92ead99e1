package activities

// defaultCollectors lists the product's inventory collectors, in the order a collection runs them.
func defaultCollectors() []InventoryCollector {
	return []InventoryCollector{
		servicesCollector{},
		processesCollector{},
		imagesCollector{},
		updatesCollector{}, vmsCollector{}, networkCollector{}, // #13
	}
}
