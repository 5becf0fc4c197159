-- The simulated gateway's card left PENDING until a notification settles it
-- (docs/gateway.md, hosted payment pages): a payment method may now carry that card class.
alter table gateway_payment_methods drop constraint gateway_payment_methods_card_class_check;
alter table gateway_payment_methods add constraint gateway_payment_methods_card_class_check
    check (card_class in ('approve', 'decline', 'error', 'hang', 'lost_answer', 'pending'));
