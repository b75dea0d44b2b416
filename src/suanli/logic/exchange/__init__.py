"""The call auction: welfare-maximising clearing with uniform prices per product
(`auction`), the greedy baseline (`greedy`), and exact money fills (`fills`)."""
