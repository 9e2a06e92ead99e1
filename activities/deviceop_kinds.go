package activities

// opKinds lists the product's device operation kinds.
func opKinds() []OpKind {
	return []OpKind{
		serviceOp{},
		vmKind{}, packageListsKind{}, // #13
	}
}
