import factory
from django.contrib.auth import get_user_model

from delivery.models import Thread


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("pw-for-tests-only")


class ThreadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Thread

    owner = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"thread {n}")
