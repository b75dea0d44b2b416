"""The call auction: welfare-maximising clearing with one uniform price per supply
product (`auction.clear`), the greedy baseline it is measured against (`greedy.greedy`),
and the conversion of a clearing to exact money fills (`fills.to_money`,
`fills.order_fills`). docs/exchange.md, "The call auction", states the rules."""
