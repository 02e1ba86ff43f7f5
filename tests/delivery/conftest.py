import pytest

from delivery.wire.apikeys import create_api_key


@pytest.fixture
def publisher_key():
    """The headers of a service that may publish."""
    _, key = create_api_key(name="billing-service", scopes=["publish"])
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}
