"""Zones from the API become typed objects; anything that does not fit is dropped on its own."""

from __future__ import annotations

from pc_middleware import ProductItem, Zone
from pc_middleware.models import ServerSideResponse

FULL_ITEM = {
    "Id": "P1",
    "Sku": "SKU-1",
    "Title": "Running Shoes",
    "Description": "Light and fast",
    "Link": "/p/running-shoes",
    "Image": "https://cdn.example.com/shoes.jpg",
    "ImageOverlay": "https://cdn.example.com/sale.png",
    "AllImages": ["https://cdn.example.com/1.jpg", "https://cdn.example.com/2.jpg"],
    "Price": 59.99,
    "WasPrice": 79.99,
    "SavingPrice": 20,
    "DisplayPrice": "£59.99",
    "DisplayWasPrice": "£79.99",
    "SavingDisplayPrice": "£20.00",
    "CurrencySymbol": "£",
    "SavingPercent": "25%",
    "Categories": ["shoes", "running"],
    "Brand": {"Id": "B1", "DisplayName": "Swift"},
    "SearchTags": ["trainers"],
    "OnOffer": True,
    "NewArrival": False,
    "clickEvt": "_pc('zoneclick', {id: 'P1'})",
    "Colour": "red",
}


def test_every_product_field_becomes_a_snake_case_attribute_and_unknown_fields_are_kept() -> None:
    item = ProductItem.model_validate(FULL_ITEM)

    assert (item.id, item.sku, item.title, item.description) == ("P1", "SKU-1", "Running Shoes", "Light and fast")
    assert (item.link, item.image, item.image_overlay) == (
        "/p/running-shoes",
        "https://cdn.example.com/shoes.jpg",
        "https://cdn.example.com/sale.png",
    )
    assert item.all_images == ["https://cdn.example.com/1.jpg", "https://cdn.example.com/2.jpg"]
    assert (item.price, item.was_price, item.saving_price) == (59.99, 79.99, 20)
    assert (item.display_price, item.display_was_price, item.saving_display_price) == ("£59.99", "£79.99", "£20.00")
    assert (item.currency_symbol, item.saving_percent) == ("£", "25%")
    assert item.categories == ["shoes", "running"]
    assert item.brand == {"Id": "B1", "DisplayName": "Swift"}
    assert item.search_tags == ["trainers"]
    assert (item.on_offer, item.new_arrival) == (True, False)
    assert item.click_event == "_pc('zoneclick', {id: 'P1'})"
    assert item.model_extra == {"clickEvt": "_pc('zoneclick', {id: 'P1'})", "Colour": "red"}


def test_an_integer_product_id_from_the_api_becomes_text() -> None:
    assert ProductItem.model_validate({"Id": 42, "Price": "3.50"}).id == "42"


def test_zones_parse_with_their_type_title_items_and_html() -> None:
    answer = ServerSideResponse.model_validate_json(
        """{"visitorId": "v", "sessionId": "s", "errors": [],
            "zones": {"HP-01": {"title": "Trending", "type": "recommender-product", "items": [{"Id": "P1"}]},
                      "HP-03": {"type": "html", "html": "<p>Sale</p>"}}}"""
    )

    assert (answer.visitor_id, answer.session_id) == ("v", "s")
    assert answer.zones["HP-01"] == Zone(title="Trending", type="recommender-product", items=[ProductItem(Id="P1")])
    assert answer.zones["HP-03"].html == "<p>Sale</p>"
    assert answer.zones["HP-03"].items == []


def test_a_bad_item_is_dropped_and_its_zone_kept() -> None:
    answer = ServerSideResponse.model_validate(
        {"zones": {"HP-01": {"items": [{"Id": "P1"}, "not an item", {"Id": "P2", "Price": "free"}, {"Id": "P3"}]}}}
    )

    assert [item.id for item in answer.zones["HP-01"].items] == ["P1", "P3"]


def test_a_bad_zone_is_dropped_and_the_others_kept() -> None:
    answer = ServerSideResponse.model_validate(
        {"zones": {"HP-01": ["not", "a", "zone"], "HP-02": {"title": 5, "items": "nope"}, "HP-03": {"title": ["x"]}}}
    )

    assert list(answer.zones) == ["HP-02"]
    assert answer.zones["HP-02"].title == "5"
    assert answer.zones["HP-02"].items == []


def test_odd_shapes_of_the_answer_are_tolerated() -> None:
    answer = ServerSideResponse.model_validate({"visitorId": 7, "errors": "one error", "zones": None})

    assert answer.visitor_id is None  # never trust a non-string as an ID
    assert answer.errors == ["one error"]
    assert answer.zones == {}
