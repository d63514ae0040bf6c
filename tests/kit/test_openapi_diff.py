import copy
import json
from pathlib import Path
from typing import Any

import pytest

from storefront.core.config import Settings
from storefront.kit.openapi_diff import breaking_changes, main
from storefront.main import create_app

Spec = dict[str, Any]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(*required: str, **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def content(schema: Any, media_type: str = "application/json") -> dict[str, Any]:
    return {media_type: {"schema": schema}}


def operation(
    operation_id: str = "create-item",
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    response: Any = None,
    responses: dict[str, Any] | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "operationId": operation_id,
        "responses": responses
        or {"200": {"description": "OK", "content": content(response or obj())}},
    }
    if parameters is not None:
        result["parameters"] = parameters
    if body is not None:
        result["requestBody"] = body
    return result


def spec(
    op: dict[str, Any] | None = None,
    *,
    path: str = "/items",
    method: str = "post",
    schemas: dict[str, Any] | None = None,
) -> Spec:
    return {
        "openapi": "3.1.0",
        "info": {"title": "test", "version": "1"},
        "paths": {path: {method: op or operation()}},
        "components": {"schemas": schemas or {}},
    }


def param(name: str, location: str = "query", *, required: bool = False, **schema: Any) -> Any:
    return {"name": name, "in": location, "required": required, "schema": schema or {}}


def body(schema: Any, *, required: bool = True, media_type: str = "application/json") -> Any:
    return {"required": required, "content": content(schema, media_type)}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}


def test_removed_operation_is_breaking() -> None:
    old = spec()
    old["paths"]["/items"]["get"] = operation("list-items")

    assert breaking_changes(old, spec()) == ["GET /items: operation removed"]


def test_removed_path_reports_each_of_its_operations() -> None:
    old = spec()
    old["paths"]["/items"]["get"] = operation("list-items")
    new = spec(path="/orders")

    assert breaking_changes(old, new) == [
        "GET /items: operation removed",
        "POST /items: operation removed",
    ]


def test_renamed_path_parameter_is_the_same_operation() -> None:
    old = spec(operation(parameters=[param("id", "path", required=True)]), path="/items/{id}")
    new = spec(
        operation(parameters=[param("item_id", "path", required=True)]), path="/items/{item_id}"
    )

    assert breaking_changes(old, new) == []


def test_changed_operation_id_is_breaking() -> None:
    assert breaking_changes(spec(operation("create-item")), spec(operation("add-item"))) == [
        "POST /items: operationId changed from 'create-item' to 'add-item'"
    ]


def test_removed_success_status_is_breaking_but_error_status_is_not() -> None:
    old = spec(
        operation(
            responses={
                "200": {"description": "OK"},
                "201": {"description": "Created"},
                "404": {"description": "Not found"},
            }
        )
    )
    new = spec(operation(responses={"200": {"description": "OK"}}))

    assert breaking_changes(old, new) == ["POST /items: 201 response removed"]


def test_removed_success_response_media_type_is_breaking() -> None:
    old = spec(operation(responses={"200": {"description": "OK", "content": content(obj())}}))
    new = spec(operation(responses={"200": {"description": "OK", "content": {}}}))

    assert breaking_changes(old, new) == [
        "POST /items: 200 response media type application/json removed"
    ]


def test_removed_response_property_through_ref() -> None:
    old = spec(operation(response=ref("Item")), schemas={"Item": obj(id=INTEGER, name=STRING)})
    new = spec(operation(response=ref("Item")), schemas={"Item": obj(id=INTEGER)})

    assert breaking_changes(old, new) == [
        "POST /items: 200 application/json response property 'name' removed"
    ]


def test_removed_response_property_in_nested_object_and_array_items() -> None:
    line = obj(item_id=INTEGER, quantity=INTEGER)
    old = spec(
        operation(response=obj(lines={"type": "array", "items": line}, owner=obj(id=INTEGER)))
    )
    new = spec(
        operation(
            response=obj(
                lines={"type": "array", "items": obj(item_id=INTEGER)}, owner=obj(name=STRING)
            )
        )
    )

    assert breaking_changes(old, new) == [
        "POST /items: 200 application/json response property 'lines[].quantity' removed",
        "POST /items: 200 application/json response property 'owner.id' removed",
    ]


def test_removed_response_property_of_a_list_response() -> None:
    old = spec(operation(response={"type": "array", "items": obj(id=INTEGER, sku=STRING)}))
    new = spec(operation(response={"type": "array", "items": obj(id=INTEGER)}))

    assert breaking_changes(old, new) == [
        "POST /items: 200 application/json response property '[].sku' removed"
    ]


def test_removed_response_property_merged_from_all_of() -> None:
    schemas = {"Base": obj(id=INTEGER, created_at=STRING)}
    old = spec(operation(response={"allOf": [ref("Base"), obj(name=STRING)]}), schemas=schemas)
    new = spec(
        operation(response={"allOf": [ref("Base"), obj(title=STRING)]}),
        schemas={"Base": obj(id=INTEGER)},
    )

    assert breaking_changes(old, new) == [
        "POST /items: 200 application/json response property 'created_at' removed",
        "POST /items: 200 application/json response property 'name' removed",
    ]


def test_response_union_keeps_only_properties_common_to_every_variant() -> None:
    old = spec(operation(response={"oneOf": [obj(id=INTEGER, card=STRING), obj(id=INTEGER)]}))
    new = spec(operation(response={"anyOf": [obj(id=INTEGER), obj(code=STRING)]}))

    assert breaking_changes(old, new) == [
        "POST /items: 200 application/json response property 'id' removed"
    ]


def test_null_variant_does_not_hide_properties_of_an_optional_object() -> None:
    old = spec(
        operation(response=obj(owner={"anyOf": [ref("User"), {"type": "null"}]})),
        schemas={"User": obj(id=INTEGER, email=STRING)},
    )
    new = spec(
        operation(response=obj(owner={"anyOf": [ref("User"), {"type": "null"}]})),
        schemas={"User": obj(id=INTEGER)},
    )

    assert breaking_changes(old, new) == [
        "POST /items: 200 application/json response property 'owner.email' removed"
    ]


def test_removed_response_property_in_another_media_type() -> None:
    csv_like = {
        "description": "OK",
        "content": content(obj(id=INTEGER, sku=STRING), "application/xml"),
    }
    old = spec(operation(responses={"200": csv_like}))
    new_response = {"description": "OK", "content": content(obj(id=INTEGER), "application/xml")}
    new = spec(operation(responses={"200": new_response}))

    assert breaking_changes(old, new) == [
        "POST /items: 200 application/xml response property 'sku' removed"
    ]


def test_response_property_no_longer_required() -> None:
    old = spec(operation(response=obj("id", "name", id=INTEGER, name=STRING)))
    new = spec(operation(response=obj("id", id=INTEGER, name=STRING)))

    assert breaking_changes(old, new) == [
        "POST /items: 200 application/json response property 'name' no longer required"
    ]


@pytest.mark.parametrize("location", ["query", "header", "cookie"])
def test_new_required_parameter(location: str) -> None:
    new = spec(operation(parameters=[param("tenant", location, required=True, type="string")]))

    assert breaking_changes(spec(), new) == [
        f"POST /items: new required {location} parameter 'tenant'"
    ]


def test_new_required_path_parameter_declared_on_the_path_item() -> None:
    old = spec(path="/items/{id}")
    new = spec(path="/items/{id}")
    new["paths"]["/items/{id}"]["parameters"] = [param("id", "path", required=True)]

    assert breaking_changes(old, new) == ["POST /items/{id}: new required path parameter 'id'"]


def test_optional_parameter_becoming_required() -> None:
    old = spec(operation(parameters=[param("q", type="string")]))
    new = spec(operation(parameters=[param("q", required=True, type="string")]))

    assert breaking_changes(old, new) == ["POST /items: query parameter 'q' became required"]


def test_new_required_request_body() -> None:
    assert breaking_changes(spec(), spec(operation(body=body(obj())))) == [
        "POST /items: request body is now required"
    ]


def test_request_body_becoming_required() -> None:
    old = spec(operation(body=body(obj(), required=False)))
    new = spec(operation(body=body(obj())))

    assert breaking_changes(old, new) == ["POST /items: request body became required"]


def test_new_required_request_property_through_ref_and_all_of() -> None:
    old_schemas = {
        "ItemCreate": {"allOf": [ref("Base"), obj("name", name=STRING)]},
        "Base": obj(sku=STRING),
    }
    new_schemas = {
        "ItemCreate": {"allOf": [ref("Base"), obj("name", name=STRING)]},
        "Base": obj("sku", "currency", sku=STRING, currency=STRING),
    }
    old = spec(operation(body=body(ref("ItemCreate"))), schemas=old_schemas)
    new = spec(operation(body=body(ref("ItemCreate"))), schemas=new_schemas)

    assert breaking_changes(old, new) == [
        "POST /items: application/json request property 'currency' is new and required",
        "POST /items: application/json request property 'sku' became required",
    ]


def test_new_required_nested_request_property() -> None:
    old = spec(operation(body=body(obj(lines={"type": "array", "items": obj(item_id=INTEGER)}))))
    line = obj("item_id", "quantity", item_id=INTEGER, quantity=INTEGER)
    new = spec(operation(body=body(obj(lines={"type": "array", "items": line}))))

    assert breaking_changes(old, new) == [
        "POST /items: application/json request property 'lines[].item_id' became required",
        "POST /items: application/json request property 'lines[].quantity' is new and required",
    ]


def test_new_required_form_field() -> None:
    form = "multipart/form-data"
    old = spec(operation(body=body(obj("file", file=STRING), media_type=form)))
    new_form = obj("file", "alt", file=STRING, alt=STRING)
    new = spec(operation(body=body(new_form, media_type=form)))

    assert breaking_changes(old, new) == [
        "POST /items: multipart/form-data form field 'alt' is new and required"
    ]


def test_removed_request_media_type() -> None:
    old_body = {"content": {**content(obj()), **content(obj(), "application/xml")}}
    new_body = {"content": content(obj())}

    assert breaking_changes(spec(operation(body=old_body)), spec(operation(body=new_body))) == [
        "POST /items: request media type application/xml no longer accepted"
    ]


def test_narrowed_parameter_type() -> None:
    old = spec(operation(parameters=[param("limit", type="number")]))
    new = spec(operation(parameters=[param("limit", type="integer")]))

    assert breaking_changes(old, new) == [
        "POST /items: query parameter 'limit' type narrowed from number to integer"
    ]


def test_narrowed_request_property_type() -> None:
    old = spec(operation(body=body(obj(price={"type": ["number", "string"]}))))
    new = spec(operation(body=body(obj(price={"type": "number"}))))

    assert breaking_changes(old, new) == [
        "POST /items: application/json request property 'price' type narrowed "
        "from number|string to number"
    ]


def test_optional_parameter_losing_null_is_not_narrowed() -> None:
    old = spec(operation(parameters=[param("q", anyOf=[STRING, {"type": "null"}])]))
    new = spec(operation(parameters=[param("q", type="string")]))

    assert breaking_changes(old, new) == []


def test_request_enum_losing_values() -> None:
    old = spec(
        operation(
            parameters=[param("sort", enum=["name", "price"])],
            body=body(obj(status={"enum": ["paid", "shipped"]})),
        )
    )
    new = spec(
        operation(
            parameters=[param("sort", enum=["name"])], body=body(obj(status={"enum": ["paid"]}))
        )
    )

    assert breaking_changes(old, new) == [
        "POST /items: application/json request property 'status' enum lost \"shipped\"",
        "POST /items: query parameter 'sort' enum lost \"price\"",
    ]


def test_request_enum_appearing_on_an_optional_value() -> None:
    old = spec(operation(body=body(obj(status={"anyOf": [STRING, {"type": "null"}]}))))
    new_status = {"anyOf": [{"enum": ["paid"], "type": "string"}, {"type": "null"}]}
    new = spec(operation(body=body(obj(status=new_status))))

    assert breaking_changes(old, new) == [
        "POST /items: application/json request property 'status' now restricted to enum "
        '"paid", null'
    ]


def test_non_breaking_changes_yield_nothing() -> None:
    old = spec(
        operation(
            parameters=[param("q", type="string"), param("legacy", type="string")],
            body=body(obj("name", name=STRING, status={"enum": ["paid"]}), required=False),
            responses={
                "200": {"description": "OK", "content": content(obj(status={"enum": ["paid"]}))},
                "404": {"description": "Not found"},
            },
        )
    )
    new = spec(
        operation(
            parameters=[param("q", type="string"), param("page", type="integer")],
            body=body(
                obj(
                    "name",
                    name=STRING,
                    note=STRING,
                    status={"enum": ["paid", "shipped"]},
                    quantity={"type": "number"},
                ),
                required=False,
            ),
            responses={
                "200": {
                    "description": "OK",
                    "content": content(
                        obj("id", id=INTEGER, status={"enum": ["paid", "refunded"]})
                    ),
                },
            },
        )
    )
    new["paths"]["/items"]["get"] = operation("list-items")
    new["paths"]["/orders"] = {"post": operation("create-order")}

    assert breaking_changes(old, new) == []


def test_widening_integer_to_number_is_not_breaking() -> None:
    old = spec(operation(body=body(obj(quantity=INTEGER))))
    new = spec(operation(body=body(obj(quantity={"type": "number"}))))

    assert breaking_changes(old, new) == []


def test_recursive_schemas_terminate_and_are_compared() -> None:
    def schemas(*node_fields: str) -> dict[str, Any]:
        fields = dict.fromkeys(node_fields, STRING)
        return {
            "Node": obj(
                children={"type": "array", "items": ref("Node")}, parent=ref("Other"), **fields
            ),
            "Other": {"anyOf": [ref("Node"), {"type": "null"}, {"allOf": [ref("Other")]}]},
        }

    op = operation(body=body(ref("Node")), response=ref("Node"))
    old = spec(copy.deepcopy(op), schemas=schemas("name", "label"))
    new_schemas = schemas("label")
    new_schemas["Node"]["required"] = ["label"]
    new = spec(copy.deepcopy(op), schemas=new_schemas)

    assert breaking_changes(old, old) == []
    assert breaking_changes(old, new) == [
        "POST /items: 200 application/json response property 'name' removed",
        "POST /items: application/json request property 'label' became required",
    ]


def test_messages_are_sorted_and_unique() -> None:
    old = spec(operation("b"), path="/b")
    old["paths"]["/a"] = {"post": operation("a"), "get": operation("a-list")}

    changes = breaking_changes(old, spec(operation("z"), path="/b"))

    assert changes == sorted(set(changes))
    assert len(changes) == 3


def test_app_spec_compared_with_itself_is_unchanged() -> None:
    document = create_app(Settings(environment="test")).openapi()

    assert document["paths"]
    assert breaking_changes(document, copy.deepcopy(document)) == []


def test_app_spec_losing_an_operation_is_reported() -> None:
    document = create_app(Settings(environment="test")).openapi()
    trimmed = copy.deepcopy(document)
    path, item = next(iter(trimmed["paths"].items()))
    method = next(iter(item))
    del item[method]

    assert f"{method.upper()} {path}: operation removed" in breaking_changes(document, trimmed)


def test_main_reports_breaking_changes_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_file, new_file = tmp_path / "old.json", tmp_path / "new.json"
    old_file.write_text(json.dumps(spec(operation("create-item"))), encoding="utf-8")
    new_file.write_text(json.dumps(spec(operation("add-item"))), encoding="utf-8")

    assert main([str(old_file), str(old_file)]) == 0
    assert capsys.readouterr().err == ""
    assert main([str(old_file), str(new_file)]) == 1
    assert capsys.readouterr().err == (
        "POST /items: operationId changed from 'create-item' to 'add-item'\n"
    )


def test_shared_schema_change_is_reported_once_at_its_shortest_path() -> None:
    def order(*address_fields: str) -> dict[str, Any]:
        return {
            "Address": obj(**dict.fromkeys(address_fields, STRING)),
            "Order": obj(billing=ref("Address"), shipping=obj(to=ref("Address"))),
        }

    old = spec(operation(response=ref("Order")), schemas=order("street", "city"))
    new = spec(operation(response=ref("Order")), schemas=order("street"))

    assert breaking_changes(old, new) == [
        "POST /items: 200 application/json response property 'billing.city' removed"
    ]
