from __future__ import annotations

from pydantic import BaseModel, Field

from tq.problems.bank import Problem, ProblemDifficulty, starter_code


class ExampleOut(BaseModel):
    input: str
    output: str
    explanation: str | None = None


class DescriptionOut(BaseModel):
    text: str
    notes: list[str]


class ProblemSummaryOut(BaseModel):
    id: str = Field(description="the slug, as the frontend names it")
    slug: str
    title: str
    difficulty: ProblemDifficulty
    category: str

    @classmethod
    def of(cls, problem: Problem) -> ProblemSummaryOut:
        return cls(
            id=problem.slug,
            slug=problem.slug,
            title=problem.title,
            difficulty=problem.difficulty,
            category=problem.category,
        )


class ProblemOut(ProblemSummaryOut):
    description: DescriptionOut
    inputFormat: str
    outputFormat: str
    examples: list[ExampleOut]
    constraints: list[str]
    starterCode: dict[str, str] = Field(description="a program that reads stdin, per language")
    testCount: int = Field(description="examples plus hidden tests a run is judged against")

    @classmethod
    def of(cls, problem: Problem) -> ProblemOut:
        return cls(
            **ProblemSummaryOut.of(problem).model_dump(),
            description=DescriptionOut(text=problem.text, notes=list(problem.notes)),
            inputFormat=problem.input_format,
            outputFormat=problem.output_format,
            examples=[
                ExampleOut(input=e.input, output=e.output, explanation=e.explanation)
                for e in problem.examples
            ],
            constraints=list(problem.constraints),
            starterCode=starter_code(problem),
            testCount=len(problem.tests),
        )


class ProblemList(BaseModel):
    problems: list[ProblemSummaryOut]


class ProblemEnvelope(BaseModel):
    problem: ProblemOut
