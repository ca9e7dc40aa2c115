"""The flows' flat parameters, made from the option groups (options.run, options.generation).

``with_parameters(*groups)`` gives a flow every option of the groups after its own
parameters, so Prefect sees flat parameters (``-p quality=high``, the UI form, validation
before a run exists) while the flow body reads ``RunOptions.from_parameters(options)``.
Prefect reads a parameter's description only from the docstring's ``Args:`` section
(``Field(description=...)`` inside ``Annotated`` is dropped), so the same decorator writes
that section: a group option's from its definition, a flow's own from its ``Annotated``
``Field(description=...)``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar, get_args, get_origin

from pydantic import Field
from pydantic.fields import FieldInfo

from prefect_image_pipeline.options.fields import options_of
from prefect_image_pipeline.options.jobs import JobRow
from prefect_image_pipeline.options.run import option_groups

ResultT = TypeVar("ResultT")
# The flow's own static signature (its parameters and ``**options: Any``) stays its type.
ParamsT = ParamSpec("ParamsT")

# The flows' own parameters: type, bounds and description, each written once here.
ImageParam = Annotated[str, Field(description="Image URL (http/https), s3:// URI or local path.")]
ImagesParam = Annotated[
    list[JobRow],
    Field(
        min_length=1,
        description="Inputs: http(s) URLs, s3:// URIs or local paths (duplicates run once), "
        'or jobs: {"input": ..., "prompt": ..., "s3_prefix": ...} with options of their own.',
    ),
]
SourcePrefix = Annotated[str, Field(description="Bucket prefix holding the source images.")]
DestinationPrefix = Annotated[
    str, Field(min_length=1, description="Bucket prefix for the outputs (and the manifest).")
]
ManifestKey = Annotated[
    str | None, Field(description="Manifest key; default: {destination_prefix}/manifest.json.")
]
ChunkOf = Annotated[
    str | None,
    Field(
        description="Set by a chunked parent for its children (parent run id/chunk); leave empty."
    ),
]
_OWN_PARAMETERS = {
    "image": ImageParam,
    "images": ImagesParam,
    "source_prefix": SourcePrefix,
    "destination_prefix": DestinationPrefix,
    "manifest_key": ManifestKey,
    "chunk_of": ChunkOf,
}


def _description(annotation: Any) -> str | None:
    if get_origin(annotation) is not Annotated:
        return None
    infos = [m for m in get_args(annotation)[1:] if isinstance(m, FieldInfo)]
    return next((i.description for i in infos if i.description), None)


# Every parameter's UI description, by name (the tests compare the form with it).
DESCRIPTIONS: dict[str, str] = {
    **{name: _description(a) or "" for name, a in _OWN_PARAMETERS.items()},
    **{o.name: o.spec.description for g in option_groups().values() for o in options_of(g)},
}


def with_parameters(
    *groups: type,
) -> Callable[[Callable[ParamsT, ResultT]], Callable[ParamsT, ResultT]]:
    """Give a flow every option of ``groups`` after its own parameters (under ``@flow``).

    The flow takes them as ``**options``; its docstring gains an ``Args:`` section
    describing every parameter; an own parameter without a description fails at import.
    """

    def decorate(fn: Callable[ParamsT, ResultT]) -> Callable[ParamsT, ResultT]:
        own = [
            p
            for p in inspect.signature(fn, eval_str=True).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        options = [o for group in groups for o in options_of(group)]
        shared = [
            inspect.Parameter(
                o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default, annotation=o.annotation
            )
            for o in options
        ]

        @functools.wraps(fn)
        def flow_function(*args: ParamsT.args, **kwargs: ParamsT.kwargs) -> ResultT:
            return fn(*args, **kwargs)

        del flow_function.__wrapped__  # type: ignore[attr-defined]  # the signature below is the truth
        signature = inspect.signature(fn).replace(parameters=[*own, *shared])
        flow_function.__signature__ = signature  # type: ignore[attr-defined]
        flow_function.__annotations__ = {
            **{name: p.annotation for name, p in signature.parameters.items()},
            "return": signature.return_annotation,
        }
        descriptions = {
            **{p.name: _description(p.annotation) or DESCRIPTIONS[p.name] for p in own},
            **{o.name: o.spec.description for o in options},
        }
        flow_function.__doc__ = _with_args_section(fn.__doc__, descriptions)
        return flow_function

    return decorate


def _with_args_section(doc: str | None, descriptions: dict[str, str]) -> str:
    # One line each: a wrapped line would reach the UI with its line break.
    lines = [f"    {name}: {text}" for name, text in descriptions.items()]
    return f"{inspect.cleandoc(doc or '')}\n\nArgs:\n" + "\n".join(lines) + "\n"
