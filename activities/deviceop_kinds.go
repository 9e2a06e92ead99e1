package activities

// opKinds lists the product's device operation kinds.
func opKinds() []OpKind {
	return []OpKind{
		ZFSScrubKind{}, SMARTSelfTestKind{}, // #11
		serviceOp{},
		vmKind{}, packageListsKind{}, // #13
	}
}
