package activities

// opKinds lists the product's device operation kinds.
func opKinds() []OpKind {
	return []OpKind{
		vmKind{}, packageListsKind{}, // #13
	}
}
