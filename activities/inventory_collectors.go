package activities

// defaultCollectors lists the product's inventory collectors, in the order a collection runs them.
func defaultCollectors() []InventoryCollector {
	return []InventoryCollector{
		drivesCollector{}, zfsCollector{}, // #11
		servicesCollector{},
		processesCollector{},
		imagesCollector{},
		updatesCollector{}, vmsCollector{}, networkCollector{}, // #13
	}
}
